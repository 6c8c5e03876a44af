package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// ErrTrailingData is Decode's error for anything but white space after the
// JSON value.
var ErrTrailingData = errors.New("trailing data after the JSON object")

// Decode decodes exactly one JSON value from b into v, refusing unknown
// fields (encoding/json's error names the field) and trailing data
// (ErrTrailingData). It never panics on input.
func Decode(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return ErrTrailingData
	}
	return nil
}
