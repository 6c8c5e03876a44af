package accounts

import (
	"fmt"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
)

// GetAccount returns the account at addr, or nil if there is none.
func GetAccount(r contracts.Reader, addr string) (*pb.Account, error) {
	a, err := pb.ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	var acc pb.Account
	ok, err := get(r, AccountKey(a), &acc)
	if !ok || err != nil {
		return nil, err
	}
	return &acc, nil
}

// SetAccount writes acc.
func SetAccount(w contracts.KVStore, acc *pb.Account) error {
	a, err := pb.ParseAddress(acc.Address)
	if err != nil {
		return fmt.Errorf("account record: %w", err)
	}
	return set(w, AccountKey(a), acc)
}

// GetHospital returns the member hospital id, or nil.
func GetHospital(r contracts.Reader, id string) (*pb.Hospital, error) {
	var h pb.Hospital
	ok, err := get(r, HospitalKey(id), &h)
	if !ok || err != nil {
		return nil, err
	}
	return &h, nil
}

// Hospitals lists the member hospitals in id order.
func Hospitals(r contracts.Reader) ([]*pb.Hospital, error) {
	start, end := HospitalPrefix()
	it, err := r.Iterator(start, end, true)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*pb.Hospital
	for ; it.Valid(); it.Next() {
		var h pb.Hospital
		if err := tx.Unmarshal(it.Value(), &h); err != nil {
			return nil, fmt.Errorf("hospital record %q: %w", it.Key()[1:], err)
		}
		out = append(out, &h)
	}
	return out, it.Error()
}

// GetParams returns the alliance parameters; they exist from genesis on.
func GetParams(r contracts.Reader) (*pb.Params, error) {
	var p pb.Params
	ok, err := get(r, ParamsKey(), &p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: alliance parameters are missing from state", contracts.ErrNotFound)
	}
	return &p, nil
}

// get and set are this contract's names for the shared record codec.
var (
	get = contracts.GetRecord
	set = contracts.SetRecord
)
