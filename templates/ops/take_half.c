  /* ${note} */
  kiln_take_half(${out}, ${x}, ${rows}, ${d}, ${which}, ${x_zp}, ${rq}, &${grid});
