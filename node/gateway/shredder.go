package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/cometbft/cometbft/libs/log"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/cohort"
	"github.com/medchain/medchain/node/vault"
)

// ShredChain is what the Shredder reads of the chain.
type ShredChain interface {
	StateReader
	Erasures(ctx context.Context, custodian string, from, to int64) ([]chainrpc.Erasure, error)
}

// rescanEvery is how many blocks apart the Shredder re-scans the whole
// vault when it cannot follow erasure events.
const rescanEvery = 100

// maxFollow is the most blocks the Shredder reads the results of in one
// Step; further behind, it catches up over several Steps. (Scanning the
// vault instead costs one state query per record; a large vault's scan can
// outlast maxFollow blocks, and would then repeat at every Step.)
const maxFollow = 500

// markEvery is how many blocks apart, at most, the Shredder records in
// the vault the height it has shredded through (after a scan or a shred
// it records at once).
const markEvery = 100

// ShredMark is what a vault that keeps the Shredder's progress offers
// (vault.Vault and VaultLease do): the height through which every erasure
// is shredded, kept with the vault's data.
type ShredMark interface {
	ShreddedThrough() (int64, error)
	SetShreddedThrough(height int64) error
}

// Shredder crypto-shreds the vault copy of every record of its hospital
// that is erased on chain. It follows the "record.erased" events in the
// results of new blocks, at most maxFollow blocks per Step, from the
// height the vault's shredding mark (ShredMark) says it reached before.
// A vault without a mark, or with one the chain cannot serve (ahead of the
// chain, or block results gone), is scanned whole first: each record's
// state on chain, which catches every erasure made while the node was
// down. (A scan costs one state query per record, minutes for a vault of
// a million records, so a restart resumes from the mark instead.) When
// block results are not kept at all (storage.discard_abci_responses) it
// scans at once and then every rescanEvery blocks. vault.Erase is
// idempotent, so a repeated or interrupted Step is harmless. It logs a record id and
// erasure height per shred, nothing else. Between an erasure and its shred
// the gateway already answers 410: it reads the record's state first.
type Shredder struct {
	chain    ShredChain
	vault    Vault
	hospital string
	log      log.Logger

	// done is the height up to which every erasure is shredded (0: the
	// first scan has not completed).
	done         int64
	noResults    bool
	lastScanDone int64
	// markRead: the vault's mark has been read (first Step); marked: the
	// height last recorded there.
	markRead bool
	marked   int64
}

// NewShredder returns a Shredder for hospital's records.
func NewShredder(chain ShredChain, v Vault, hospital string, logger log.Logger) (*Shredder, error) {
	if chain == nil || v == nil || logger == nil {
		return nil, errors.New("shredder: chain, vault and logger are required")
	}
	if err := checkHospitalID(hospital); err != nil {
		return nil, fmt.Errorf("shredder: %w", err)
	}
	return &Shredder{chain: chain, vault: v, hospital: hospital, log: logger}, nil
}

// Step shreds what was erased up to height, the latest height the app
// has committed (state queries must answer at height or later). An error
// leaves the rest for the next Step. Not safe for concurrent use.
func (s *Shredder) Step(ctx context.Context, height int64) error {
	if height <= 0 || height <= s.done {
		return nil
	}
	if !s.markRead {
		if err := s.readMark(height); err != nil {
			return err
		}
	}
	scan := s.done == 0 || (s.noResults && height-s.lastScanDone >= rescanEvery)
	if !scan && !s.noResults {
		to := min(height, s.done+maxFollow)
		es, err := s.chain.Erasures(ctx, s.hospital, s.done+1, to)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			s.noResults = true
			s.log.Error("shredder: cannot read erasure events; scanning the vault now and every few blocks instead", "every_blocks", rescanEvery, "err", err)
			scan = true
		} else {
			for _, e := range es {
				if err := s.shred(ctx, e.RecordID, e.Height); err != nil {
					return err
				}
			}
			s.done = to
			return s.mark(len(es) > 0)
		}
	}
	if !scan {
		return nil
	}
	if err := s.scan(ctx); err != nil {
		return err
	}
	s.done, s.lastScanDone = height, height
	return s.mark(true)
}

// readMark starts the Shredder from the vault's mark, when the vault keeps
// one and it is not ahead of the chain's height.
func (s *Shredder) readMark(height int64) error {
	m, ok := s.vault.(ShredMark)
	if !ok {
		s.markRead = true
		return nil
	}
	h, err := m.ShreddedThrough()
	if err != nil && !errors.Is(err, vault.ErrBadMark) {
		return fmt.Errorf("shredder: %w", err) // the vault busy, say: retry at the next Step
	}
	s.markRead = true
	switch {
	case err != nil:
		s.log.Error("shredder: the vault's shredding mark is unreadable; checking every record instead", "err", err)
	case h > height:
		s.log.Error("shredder: the vault says it shredded up to a height the chain has not reached (was the chain's state replaced?); checking every record instead",
			"vault_height", h, "chain_height", height)
	case h > 0:
		s.done, s.marked = h, h
		s.log.Info("shredder: resuming from the vault's mark", "height", h)
	}
	return nil
}

// mark records s.done in the vault: now, or once markEvery blocks have
// passed since the last mark.
func (s *Shredder) mark(now bool) error {
	m, ok := s.vault.(ShredMark)
	if !ok || s.done == s.marked || (!now && s.done-s.marked < markEvery) {
		return nil
	}
	if err := m.SetShreddedThrough(s.done); err != nil {
		return fmt.Errorf("shredder: %w", err)
	}
	s.marked = s.done
	return nil
}

// scan checks every record the vault holds against its state on chain.
func (s *Shredder) scan(ctx context.Context) error {
	ids, err := s.vault.List()
	if err != nil {
		return fmt.Errorf("shredder: list the vault: %w", err)
	}
	for _, id := range ids {
		if len(id) != 32 {
			continue // not a chain record id
		}
		rec, err := chainrpc.QueryMessage[pb.Record](ctx, s.chain, recordPath([32]byte(id)))
		if err != nil {
			return fmt.Errorf("shredder: %w", err)
		}
		if rec == nil || !rec.Erased || rec.Custodian != s.hospital {
			continue
		}
		if err := s.shred(ctx, rec.Id, rec.ErasedHeight); err != nil {
			return err
		}
	}
	return nil
}

func (s *Shredder) shred(ctx context.Context, recordID string, height int64) error {
	raw, err := hex.DecodeString(recordID)
	if err != nil || len(raw) != 32 {
		return fmt.Errorf("shredder: the chain named an erased record with a malformed id (%d characters)", len(recordID))
	}
	if err := s.vault.Erase(raw); err != nil {
		return fmt.Errorf("shredder: erase record %s: %w", recordID, err)
	}
	s.log.Info("record shredded", "record", recordID, "erased_height", height)
	return s.shredFactsIfLast(ctx, [32]byte(raw))
}

// shredFactsIfLast crypto-shreds the patient-facts entries (node/cohort:
// demographics, the local id map) of the patient of an erased record once
// none of its records kept here is left unerased on chain: a person who
// erased everything this hospital holds about them is not counted in
// research queries any more, by demographics alone either. Every
// generation is erased, so an import never writes them again (node/ingest
// respects erased facts like an erased record).
func (s *Shredder) shredFactsIfLast(ctx context.Context, recordID [32]byte) error {
	rec, err := chainrpc.QueryMessage[pb.Record](ctx, s.chain, recordPath(recordID))
	if err != nil {
		return fmt.Errorf("shredder: %w", err)
	}
	if rec == nil || rec.Custodian != s.hospital {
		return nil
	}
	list, err := chainrpc.QueryMessage[pb.RecordList](ctx, s.chain, "/records/patient/"+rec.Pseudonym+"/records")
	if err != nil {
		return fmt.Errorf("shredder: %w", err)
	}
	if list != nil {
		for _, r := range list.Records {
			if r.Custodian == s.hospital && !r.Erased {
				return nil
			}
		}
	}
	for g := uint32(0); ; g++ {
		id := cohort.FactsIDAt(s.hospital, rec.Pseudonym, g)
		if _, _, err := s.vault.Get(id[:]); errors.Is(err, vault.ErrNotFound) {
			if g > 0 {
				s.log.Info("patient facts shredded: the patient's last record here was erased", "pseudonym", rec.Pseudonym, "generations", g)
			}
			return nil
		} else if err != nil && !errors.Is(err, vault.ErrErased) {
			return fmt.Errorf("shredder: read the patient facts of %s: %w", rec.Pseudonym, err)
		}
		if err := s.vault.Erase(id[:]); err != nil {
			return fmt.Errorf("shredder: erase the patient facts of %s: %w", rec.Pseudonym, err)
		}
	}
}
