package client

import (
	"bytes"
	"fmt"

	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	cmttypes "github.com/cometbft/cometbft/types"
)

func validatorSet(r *ctypes.ResultValidators) (*cmttypes.ValidatorSet, error) {
	if r.Total != len(r.Validators) {
		return nil, fmt.Errorf("validator set has %d members, only %d returned; paging is not supported yet", r.Total, len(r.Validators))
	}
	vs := cmttypes.NewValidatorSet(r.Validators)
	if err := vs.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("validator set: %w", err)
	}
	return vs, nil
}

func bytesEqual(a, b []byte) bool { return bytes.Equal(a, b) }
