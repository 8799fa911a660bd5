package resolvers

import (
	"context"
	"errors"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/serfigas/brilla-gateway/graph/apperr"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/internal/registration"
)

// toRegistrationInput maps register's GraphQL input to the registration
// package's; uploads are passed as readers, read there within the limits.
func toRegistrationInput(in model.RegisterInput) registration.Input {
	out := registration.Input{
		Vat:              in.Vat,
		VatType:          string(in.VatType),
		Name:             in.Name,
		Email:            in.Email,
		Phone:            in.Phone,
		ContractNumber:   in.ContractNumber,
		BirthDate:        string(in.BirthDate),
		BirthCity:        in.BirthCity,
		IDExpeditionDate: string(in.IDExpeditionDate),
		IDExpeditionCity: in.IDExpeditionCity,
		Address:          in.Address,
		City:             in.City,
		Attachments:      make([]registration.Attachment, len(in.Attachments)),
	}
	for i, a := range in.Attachments {
		if a == nil {
			continue
		}
		att := registration.Attachment{Name: a.Name, Base64: a.Base64}
		if a.File != nil {
			att.File = &registration.File{Content: a.File.File, Size: a.File.Size}
		}
		out.Attachments[i] = att
	}
	return out
}

// toRegistrationPayload maps a registration's result.
func toRegistrationPayload(res *registration.Result) *model.RegistrationPayload {
	state, ok := registrationStates[strings.ToLower(res.State)]
	if !ok {
		// A just-submitted registration is under review whatever word
		// Brilla used for it.
		state = model.RegistrationStatePending
	}
	p := &model.RegistrationPayload{TrackingCode: res.TrackingCode, State: state, Message: optional(res.Message)}
	if res.RequestID != nil {
		id := int(*res.RequestID)
		p.RequestID = &id
	}
	return p
}

// reportRegisterProblems adds every input problem to the response, each with its
// extensions.field.
func reportRegisterProblems(ctx context.Context, problems []*apperr.Error) {
	for _, p := range problems {
		graphql.AddError(ctx, p)
	}
}

// registerError carries an unknown registration outcome's extensions
// (outcome UNKNOWN, attemptedAt) to the response: the GraphQL error wraps
// the cause, so graph/apperr's presenter still sets its code and message
// and keeps these extensions. Any other error is returned as is.
func registerError(err error) error {
	var unknown *registration.UnknownOutcomeError
	if !errors.As(err, &unknown) {
		return err
	}
	return &gqlerror.Error{Err: err, Message: unknown.Error(), Extensions: unknown.Extensions()}
}
