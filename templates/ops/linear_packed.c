  /* ${note} */
  ${kernel}(${out}, ${x}, ${x_zp}, ${rows}, ${n_in}, ${w}, ${w_zp}, ${w_sum}, ${n_out}, ${rq}, &${grid}${work});
