  /* ${note} */
  ${kernel}(${out}, ${a}, ${a_zp}, ${a_rq}, ${b}, ${b_zp}, ${b_rq}, ${rows}, ${h}, &${grid});
