package query

import (
	"github.com/medchain/medchain/contracts/pb"
)

// fieldInfo describes a field: its name in the text, its fixed-point scale
// (value × Scale is the integer hospitals sum) and the bound of its values.
type fieldInfo struct {
	Name  string
	Scale int64
	// Max bounds |value × Scale| for one patient; Validate uses it to prove
	// that no slot can leave the plaintext range.
	Max int64
}

// The bounds are clinical plausibility limits, and they are the per-patient
// sensitivity of every sum (node/dp): a hospital drops a value outside
// them (InRange) before it counts.
var fields = map[pb.Field]fieldInfo{
	pb.Field_FIELD_AGE:   {"age", 1, 130},
	pb.Field_FIELD_HBA1C: {"hba1c", 100, 25 * 100},
	pb.Field_FIELD_BMI:   {"bmi", 100, 100 * 100},
	pb.Field_FIELD_SBP:   {"sbp", 1, 300},
}

// InRange reports whether v (scaled) is within field f's plausibility
// bound; hospitals leave values outside it out of every statistic, so one
// patient never moves a sum by more than the bound.
func InRange(f pb.Field, v int64) bool {
	fi, ok := fields[f]
	return ok && v >= -fi.Max && v <= fi.Max
}

// fieldOrder lists the fields in enum order, for deterministic iteration.
var fieldOrder = []pb.Field{pb.Field_FIELD_AGE, pb.Field_FIELD_HBA1C, pb.Field_FIELD_BMI, pb.Field_FIELD_SBP}

// Scale returns the fixed-point scale of f (0 for an unknown field).
func Scale(f pb.Field) int64 { return fields[f].Scale }

// FieldName returns f's name in the query text.
func FieldName(f pb.Field) string {
	if fi, ok := fields[f]; ok {
		return fi.Name
	}
	return f.String()
}

func fieldByName(name string) (pb.Field, bool) {
	for _, f := range fieldOrder {
		if fields[f].Name == name {
			return f, true
		}
	}
	return 0, false
}

var sexNames = map[pb.Sex]string{
	pb.Sex_SEX_FEMALE: "female", pb.Sex_SEX_MALE: "male", pb.Sex_SEX_OTHER: "other", pb.Sex_SEX_UNKNOWN: "unknown",
}

func sexByName(name string) (pb.Sex, bool) {
	for s, n := range sexNames {
		if n == name {
			return s, true
		}
	}
	return 0, false
}

// encounterClasses are the Encounter classes a filter may name.
var encounterClasses = []string{"AMB", "EMER", "IMP"}

var opNames = map[pb.CmpOp]string{
	pb.CmpOp_CMP_LT: "<", pb.CmpOp_CMP_LE: "<=", pb.CmpOp_CMP_GT: ">", pb.CmpOp_CMP_GE: ">=",
	pb.CmpOp_CMP_EQ: "=", pb.CmpOp_CMP_NE: "!=",
}

func opByName(name string) (pb.CmpOp, bool) {
	for o, n := range opNames {
		if n == name {
			return o, true
		}
	}
	return 0, false
}
