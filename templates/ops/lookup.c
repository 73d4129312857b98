  /* ${note} */
  kiln_lookup(${out}, ${x}, ${n}, ${x_min}, ${table});
