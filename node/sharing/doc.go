// Package sharing is the people's side of record sharing: hospitals enrol
// doctors and patients, patients grant and revoke access (data keys
// re-sealed to the doctor), doctors forward grants, request access or break
// the glass, and fetch and decrypt a record from its custodian's gateway.
// It runs over node/client and the records contract; the CLI and demos use it.
package sharing
