// Package genesis describes the alliance at height 0: its member hospitals
// (name, validator key, operator account), initial researcher and auditor
// accounts and parameters. It parses and validates the app_state section of
// a CometBFT genesis file strictly (unknown keys are errors naming their
// path) and builds genesis documents for new alliances and local testnets.
package genesis
