package accounts

// State keys of this contract: one-byte prefixes, then the record's id.
// Every key builder has a parser where a key is read back (see keys_test.go).
const (
	prefixAccount  = 0x01
	prefixHospital = 0x02
	prefixParams   = 0x03
)

// AccountKey is the state key of the account with the given address bytes.
func AccountKey(addr [20]byte) []byte { return append([]byte{prefixAccount}, addr[:]...) }

// HospitalKey is the state key of a member hospital.
func HospitalKey(id string) []byte { return append([]byte{prefixHospital}, id...) }

// HospitalPrefix bounds the range of all hospital keys.
func HospitalPrefix() (start, end []byte) { return []byte{prefixHospital}, []byte{prefixHospital + 1} }

// ParamsKey is the state key of the alliance parameters.
func ParamsKey() []byte { return []byte{prefixParams} }
