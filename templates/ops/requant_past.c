  /* ${note}: the cached past, requantized (untied KV qparams) */
  for (int32_t h = 0; h < ${heads}; h++)
    ${kernel}(${out} + h * ${max_seq} * ${d}, ${cache} + h * ${max_seq} * ${d}, past_len * ${d}, ${in_zp}, ${rq}, &${grid});
