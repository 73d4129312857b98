  /* ${note} */
  ${kernel}(${out}, ${x}, ${rows}, ${d}, ${which}, ${x_zp}, ${rq}, &${grid});
