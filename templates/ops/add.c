  /* ${note} */
  ${kernel}(${out}, ${a}, ${a_zp}, ${b}, ${b_zp}, ${c}, ${c_zp}, ${n}, &${rq}, &${grid});
