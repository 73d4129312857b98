  /* ${note} */
  ${kernel}(${out}, ${x}, ${rows}, ${n_in}, ${w}, ${w_zp}, ${w_bias}, ${n_out}, ${rq}, &${grid}, (uint8_t *)${work});
