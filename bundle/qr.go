package bundle

import (
	"fmt"

	"github.com/skip2/go-qrcode"

	"github.com/licgate/licgate/tunnel"
)

// QRPNG renders the profile as a QR code PNG about size pixels wide (at
// most), as the WireGuard mobile apps scan it. Modules are whole pixels:
// scaled modules blur at their edges and some scanners then miss.
func QRPNG(p tunnel.Profile, size int) ([]byte, error) {
	q, err := qrcode.New(p.String(), qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("bundle: render qr png: %w", err)
	}
	module := max(1, size/len(q.Bitmap()))
	png, err := q.PNG(-module)
	if err != nil {
		return nil, fmt.Errorf("bundle: render qr png: %w", err)
	}
	return png, nil
}

// QRTerminal renders the profile as a QR code of Unicode half blocks for
// a terminal (dark text on a light background or the reverse both scan).
func QRTerminal(p tunnel.Profile) (string, error) {
	q, err := qrcode.New(p.String(), qrcode.Low)
	if err != nil {
		return "", fmt.Errorf("bundle: render qr: %w", err)
	}
	return q.ToSmallString(false), nil
}
