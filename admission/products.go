package admission

import (
	"context"

	"github.com/licgate/licgate/adminapi"
	"github.com/licgate/licgate/bundle"
)

// Bundles are the license managers every home bundle points the home
// computer's applications at: one per service, as its settings say
// (bundle.LicenseFor), read at each enrolment so a reload counts.
func (c *Controller) Bundles() []bundle.License {
	svcs := c.services()
	out := make([]bundle.License, 0, len(svcs))
	for _, sc := range svcs {
		if sc.Settings == nil {
			continue
		}
		out = append(out, bundle.LicenseFor(sc.Settings.Kind(), sc.Settings.Ports))
	}
	return out
}

// ProductSeats are the rows of the licgate_product_seats_* series: each
// feature of Licenses, as the license manager reports it (Source
// "server") or from licgate's seat sessions ("licgate").
func (c *Controller) ProductSeats(ctx context.Context) []adminapi.ProductSeats {
	var out []adminapi.ProductSeats
	for _, sl := range c.Licenses(ctx) {
		for _, f := range sl.Features {
			out = append(out, adminapi.ProductSeats{Service: sl.Service, Name: f.Name, Source: sl.Source, InUse: f.InUse, Total: f.Total})
		}
	}
	return out
}
