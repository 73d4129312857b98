  /* ${note} */
  kiln_sigmoid(${out}, ${x}, ${x_zp}, ${n}, &${lut}, ${rq}, &${grid});
