// Package atomicfile writes a whole file or nothing: the data goes to a
// synced temporary file in the target's folder, which then takes the
// target's name (a link for a file that must be new, a rename for one that
// may be replaced) and the folder is synced. A crash leaves no half-written
// file. The node's config and the gateway's certificate are written so.
package atomicfile
