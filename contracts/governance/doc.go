// Package governance is the contract by which member hospitals shape the
// alliance: "gov.propose" admits or removes a hospital, registers or
// retires a researcher or auditor, grants privacy budget or changes
// parameters; "gov.vote" decides. A proposal passes with yes votes from
// more than two thirds of the members at proposal time, and runs at once.
package governance
