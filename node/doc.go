// Package node runs a medchain validator: it lays out the home folder
// (`medchain init`), loads settings (flags > MEDCHAIN_* env > toml files >
// defaults), checks every file before CometBFT reads it, and runs CometBFT
// in-process with the medchain ABCI app over a local client, shutting both
// down in the order that loses nothing.
package node
