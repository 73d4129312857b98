-- Every activation and weight on 8 bits (no int16 anywhere): the best
-- all-8-bit combination measured on stories260K (README, "Quantization
-- algorithms"). TICO's percentile observer, data-moving observers on their
-- input's grid, more calibration stories than the default.
return {
  summary = "all 8-bit (w8a8): percentile observers, shared grids for data movement",
  preset = "w8a8",
  observer = "percentile",
  percentile = 99.99,
  share_grids = true,
  samples = 32,
  decode_steps = 8,
}
