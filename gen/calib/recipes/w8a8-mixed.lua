-- 8-bit everywhere except the observer families that cost the most: those
-- are kept at int16 until the fake-quant model's mean KL against float is
-- under 0.01 on the calibration stories (kiln sensitivity shows the order).
return {
  summary = "w8a8 with the fewest int16 observer families for a KL of 0.01",
  preset = "w8a8",
  observer = "percentile",
  percentile = 99.99,
  share_grids = true,
  mixed = 0.01,
  samples = 16,
  decode_steps = 8,
}
