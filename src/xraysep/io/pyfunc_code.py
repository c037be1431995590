"""MLflow *models from code* file: MLflow runs it to build the model object.

Not imported by the package; ``io.registry`` passes its path to ``log_model``.
"""

import mlflow

from xraysep.io.pyfunc import SeparatorModel

mlflow.models.set_model(SeparatorModel())
