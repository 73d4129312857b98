  /* ${note} */
  ${kernel}(${out}, ${x}, ${x_zp}, ${n}, &${lut}, ${rq}, &${grid});
