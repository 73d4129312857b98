  /* ${note}: same grid, ${out} is ${from} */
