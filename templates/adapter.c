/* scratch: ${scratch_words} int16 words of the shared arena */
${result} ${name}(${signature})
{
${prologue}

${body}${epilogue}}
