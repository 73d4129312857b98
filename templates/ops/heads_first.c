  /* ${note} */
  ${kernel}(${out}, ${x}, ${rows}, ${heads}, ${d}, ${x_zp}, ${rq}, &${grid});
