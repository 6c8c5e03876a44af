package governance

import (
	"fmt"

	"github.com/medchain/medchain/contracts"
)

// Sentinel errors of this contract; abci/codes.go gives each its code.
// Each wraps the framework error it refines, so a node whose code table
// lacks the row still answers with that error's code.
var (
	// ErrAlreadyVoted: the member already voted on the proposal (or
	// proposed it, which counts as its yes).
	ErrAlreadyVoted = fmt.Errorf("%w: this member already voted on the proposal", contracts.ErrExists)
	// ErrVotingClosed: the proposal is decided or past its deadline.
	ErrVotingClosed = fmt.Errorf("%w: voting on the proposal is closed", contracts.ErrWrongState)
	// ErrAllianceFloor: the proposal would leave fewer members than
	// consensus (MinMembers) or decryption (t) needs.
	ErrAllianceFloor = fmt.Errorf("%w: the alliance would have too few members", contracts.ErrWrongState)
)
