  /* ${note} */
  ${kernel}(${out}, ${a}, ${a_zp}, ${b}, ${b_zp}, ${n}, ${rq}, &${grid});
