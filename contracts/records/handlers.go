package records

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
)

// Tx types of this contract.
const (
	TypeEnrolPatient = "patient.enrol"
	TypeEnrolDoctor  = "doctor.enrol"
	TypeUpdateDoctor = "doctor.update"
	TypeSetGateway   = "hospital.gateway"
	TypeRegister     = "record.register"
	TypeImport       = "record.import"
	TypeErase        = "record.erase"
	TypeGrant        = "grant.create"
	TypeForward      = "grant.forward"
	TypeRevoke       = "grant.revoke"
	TypeAccess       = "access.request"
	TypeReview       = "breakglass.review"
	TypeConsent      = "patient.consent"
)

// Events of this contract. Attributes carry pseudonyms, record ids,
// addresses, hospital ids and numbers only.
const (
	EventPatientEnrolled = "patient.enrolled" // pseudonym, account, hospital
	EventPatientLinked   = "patient.linked"   // pseudonym, account, hospital
	EventDoctorEnrolled  = "doctor.enrolled"  // address, hospital, emergency, reviewer
	EventDoctorUpdated   = "doctor.updated"   // address, hospital, emergency, reviewer
	EventGatewaySet      = "hospital.gateway" // hospital, url, cert_sha256
	EventRegistered      = "record.registered"
	EventErased          = "record.erased" // record, custodian, by: the custodian's worker shreds the vault copy
	EventGranted         = "grant.created"
	EventForwarded       = "grant.forwarded"
	EventRevoked         = "grant.revoked"
	EventAccessed        = "record.accessed" // the custodian's gateway may now serve entry id
	EventReviewed        = "breakglass.reviewed"
	EventConsent         = "patient.consent"
	// EventSubject: the research-subject index changed: hospital now
	// answers (subject "true") or no longer answers (subject "false") for
	// pseudonym in research queries. Replaying these events in order from
	// an empty index gives the index at any height (records.SubjectsOf).
	EventSubject = "research.subject" // hospital, pseudonym, subject
)

// Reasons of a denial, the first word of its log after "denied by the
// sharing rules".
const (
	reasonErased       = "erased"
	reasonNoEmergency  = "no_emergency_role"
	reasonNoReason     = "no_reason"
	reasonAmbiguous    = "grant_and_break_glass"
	reasonNoGrant      = "no_grant"
	reasonUnknownGrant = "unknown_grant"
	reasonNotGrantee   = "not_grantee"
	reasonRevoked      = "revoked"
	reasonExpired      = "expired"
	reasonOtherPatient = "other_patient"
	reasonOutOfScope   = "out_of_scope"
	reasonPurpose      = "purpose"
	reasonNotForward   = "not_forwardable"
	reasonTooDeep      = "chain_too_long"
	reasonWidening     = "wider_than_parent"
)

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", contracts.ErrInvalidPayload, fmt.Sprintf(format, a...))
}

func unauthorized(format string, a ...any) error {
	return fmt.Errorf("%w: %s", contracts.ErrUnauthorized, fmt.Sprintf(format, a...))
}

func notFound(format string, a ...any) error {
	return fmt.Errorf("%w: %s", contracts.ErrNotFound, fmt.Sprintf(format, a...))
}

func exists(format string, a ...any) error {
	return fmt.Errorf("%w: %s", contracts.ErrExists, fmt.Sprintf(format, a...))
}

func wrongState(format string, a ...any) error {
	return fmt.Errorf("%w: %s", contracts.ErrWrongState, fmt.Sprintf(format, a...))
}

func deny(reason, format string, a ...any) error {
	return fmt.Errorf("%w: %s: %s", contracts.ErrDenied, reason, fmt.Sprintf(format, a...))
}

// handler builds a Handler whose payload is *M.
func handler[M proto.Message](typ string, roles []pb.Role, validate func(M) error, exec func(*contracts.Context, M) error) contracts.Handler {
	return contracts.Handler{
		Type:  typ,
		Roles: roles,
		New: func() proto.Message {
			var m M
			return m.ProtoReflect().Type().New().Interface()
		},
		Validate: func(m proto.Message) error { return validate(m.(M)) },
		Exec:     func(ctx *contracts.Context, m proto.Message) error { return exec(ctx, m.(M)) },
	}
}

var (
	operator = []pb.Role{pb.Role_ROLE_OPERATOR}
	doctor   = []pb.Role{pb.Role_ROLE_DOCTOR}
	patient  = []pb.Role{pb.Role_ROLE_PATIENT}
)

// Handlers returns this contract's tx handlers.
func Handlers() []contracts.Handler {
	return []contracts.Handler{
		handler(TypeEnrolPatient, operator, validateEnrolPatient, execEnrolPatient),
		handler(TypeEnrolDoctor, operator, validateEnrolDoctor, execEnrolDoctor),
		handler(TypeUpdateDoctor, operator, validateUpdateDoctor, execUpdateDoctor),
		handler(TypeSetGateway, operator, validateSetGateway, execSetGateway),
		handler(TypeRegister, operator, validateRegister, execRegister),
		handler(TypeImport, operator, validateImport, execImport),
		handler(TypeErase, []pb.Role{pb.Role_ROLE_OPERATOR, pb.Role_ROLE_PATIENT}, validateErase, execErase),
		handler(TypeGrant, patient, validateGrant, execGrant),
		handler(TypeForward, doctor, validateForward, execForward),
		handler(TypeRevoke, []pb.Role{pb.Role_ROLE_DOCTOR, pb.Role_ROLE_PATIENT}, validateRevoke, execRevoke),
		handler(TypeAccess, doctor, validateAccess, execAccess),
		handler(TypeReview, []pb.Role{pb.Role_ROLE_DOCTOR, pb.Role_ROLE_OPERATOR}, validateReview, execReview),
		handler(TypeConsent, patient, validateConsent, execConsent),
	}
}

// operatorOf returns the hospital whose operator signs ctx's tx.
func operatorOf(ctx *contracts.Context) (*pb.Hospital, error) {
	h, err := accounts.GetHospital(ctx.Store, ctx.Signer.Hospital)
	if err != nil {
		return nil, err
	}
	if h == nil || h.Operator != ctx.Signer.Address || ctx.Signer.Role != pb.Role_ROLE_OPERATOR {
		return nil, unauthorized("%s is not the operator of a member hospital", ctx.Signer.Address)
	}
	return h, nil
}

// patientOf returns the patient who signs ctx's tx and its pseudonym.
func patientOf(ctx *contracts.Context) (*pb.Patient, [32]byte, error) {
	var pid [32]byte
	if ctx.Signer.Role != pb.Role_ROLE_PATIENT || ctx.Signer.Pseudonym == "" {
		return nil, pid, unauthorized("%s is not an enrolled patient (a hospital enrols patients with %s)", ctx.Signer.Address, TypeEnrolPatient)
	}
	pid, err := ParseID("pseudonym", ctx.Signer.Pseudonym)
	if err != nil {
		return nil, pid, fmt.Errorf("records: account %s: %w", ctx.Signer.Address, err) // broken invariant: enrol validated it
	}
	p, err := GetPatient(ctx.Store, pid)
	if err != nil {
		return nil, pid, err
	}
	if p == nil || p.Account != ctx.Signer.Address {
		return nil, pid, unauthorized("%s is not the account of patient %s", ctx.Signer.Address, ctx.Signer.Pseudonym)
	}
	return p, pid, nil
}

// parseID parses an id field a Validate already checked; a failure here is
// a broken invariant, reported without a sentinel.
func parseID(what, s string) ([32]byte, error) {
	id, err := ParseID(what, s)
	if err != nil {
		return id, fmt.Errorf("records: unvalidated %w", err)
	}
	return id, nil
}

func attr(k, v string) contracts.Attr    { return contracts.Attr{Key: k, Value: v} }
func indexed(k, v string) contracts.Attr { return contracts.Attr{Key: k, Value: v, Index: true} }
func itoa(v uint64) string               { return strconv.FormatUint(v, 10) }
func height(ctx *contracts.Context) contracts.Attr {
	return attr("height", strconv.FormatInt(ctx.Block.Height, 10))
}
