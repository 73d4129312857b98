  /* ${note} */
  kiln_mul_rows(${out}, ${x}, ${x_zp}, ${table}, ${t_zp}, ${rows}, ${heads}, ${d}, ${rq}, &${grid});
