  /* ${note} */
  kiln_mul(${out}, ${a}, ${a_zp}, ${b}, ${b_zp}, ${n}, ${rq}, &${grid});
