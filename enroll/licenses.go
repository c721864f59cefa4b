package enroll

import "github.com/licgate/licgate/bundle"

// WithLicenses makes every bundle point the home computer's applications
// at the office's license managers (bundle.Bundle.Licenses: FlexNet's and
// RLM's variables, Sentinel LDK's remote search, CodeMeter's server
// list), read from f at each enrolment so a reload counts. Without it the
// helpers set CodeMeter's server search list only.
func (s *Server) WithLicenses(f func() []bundle.License) *Server {
	s.licenses = f
	return s
}
