package bundle

import (
	"bytes"
	"image/png"
	"net/netip"
	"strings"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"github.com/licgate/licgate/tunnel"
)

// TestQRDecodesToProfile decodes the PNG with an independent QR decoder.
func TestQRDecodesToProfile(t *testing.T) {
	k1, _ := tunnel.GenerateKey()
	k2, _ := tunnel.GenerateKey()
	p := tunnel.Profile{PrivateKey: k1, Address: netip.MustParsePrefix("10.44.0.23/32"), PeerPublicKey: k2.PublicKey(),
		Endpoint: "office.example.com:51820", AllowedIPs: []netip.Prefix{netip.MustParsePrefix("10.44.0.1/32")}, PersistentKeepalive: 25}
	b, err := QRPNG(p, 512)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	pure := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_PURE_BARCODE: true}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, pure)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetText() != p.String() {
		t.Fatalf("QR holds:\n%s\nwant:\n%s", res.GetText(), p.String())
	}
	term, err := QRTerminal(p)
	if err != nil || !strings.ContainsAny(term, "█▀▄") {
		t.Fatalf("terminal QR: %v", err)
	}
}
