  /* ${note} */
  kiln_concat_halves(${out}, ${a}, ${a_zp}, ${a_rq}, ${b}, ${b_zp}, ${b_rq}, ${rows}, ${h}, &${grid});
