  /* ${note} */
  ${kernel}(${out}, ${x}, ${n}, ${x_min}, ${table});
