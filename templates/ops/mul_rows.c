  /* ${note} */
  ${kernel}(${out}, ${x}, ${x_zp}, ${table}, ${t_zp}, ${rows}, ${heads}, ${d}, ${rq}, &${grid});
