// Package layers holds no code: its test checks the import rules of
// tandem's packages (see docs/design.md, "Packages"). Each third-party
// system is imported by exactly one package, and the packages import
// along the layers only: parts never import the composition root,
// lower parts never import the ones built on them.
package layers
