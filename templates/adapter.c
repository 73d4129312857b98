/* scratch: ${scratch_words} int16 words of the shared arena */
void ${name}(${signature})
{
${prologue}

${body}}
