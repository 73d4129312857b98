  /* ${note} */
  ${kernel}(${out}, ${x}, ${x_zp}, ${rows}, ${n}, ${gamma}, ${gamma_zp}, &${p}, &${grid});
