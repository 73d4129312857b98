  /* ${note} */
  kiln_requant(${out}, ${x}, ${n}, ${x_zp}, ${rq}, &${grid});
