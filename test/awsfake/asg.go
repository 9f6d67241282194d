package awsfake

// asgState is the Auto Scaling side of the account.
type asgState struct{}

func newASGState() *asgState { return &asgState{} }

// asgAction answers Auto Scaling actions.
func (s *Server) asgAction(action string, _ query) (string, *apiError) {
	return "", errorf(400, "InvalidAction", "autoscaling action %s is not faked", action)
}
