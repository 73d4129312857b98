  /* ${note} */
  kiln_heads_first(${out}, ${x}, ${rows}, ${heads}, ${d}, ${x_zp}, ${rq}, &${grid});
