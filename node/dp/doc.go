// Package dp is the differential privacy of research queries, on the
// hospital side: an exact discrete Gaussian sampler (crypto/rand, rational
// arithmetic, no floats), the zCDP calibration of each figure's noise from
// the query's per-patient bounds, each hospital's share of that noise, and
// the description of the noise a researcher's result carries (docs/DP.md).
package dp
