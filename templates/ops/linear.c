  /* ${note} */
  ${kernel}(${out}, ${x}, ${x_zp}, ${rows}, ${n_in}, ${w}, ${w_zp}, ${n_out}, ${rq}, &${grid});
