// Package cohort is the hospital side of research queries: it turns what a
// hospital holds (its vault, or a FHIR export) into per-patient research
// Facts, one Table per hospital, and Evaluate computes a query's packed
// vector of figures (contracts/query.Layout) over the patients a caller
// includes — the plaintext a hospital's query worker noises and encrypts.
package cohort
