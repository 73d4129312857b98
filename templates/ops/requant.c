  /* ${note} */
  ${kernel}(${out}, ${x}, ${n}, ${x_zp}, ${rq}, &${grid});
