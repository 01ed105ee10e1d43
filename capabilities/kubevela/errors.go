package kubevela

import (
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

func joinErrs(errs []error) error { return errors.Join(errs...) }
