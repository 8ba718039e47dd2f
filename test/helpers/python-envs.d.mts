export interface PythonEnvironment {
  variable: 'MG_PYTHON' | 'MG_PYTHON_HUB2';
  requirements: string;
  machineDir: string;
  localDir: string;
}
export const ENVIRONMENTS: readonly PythonEnvironment[];
export function pythonOf(variable: PythonEnvironment['variable']): string;
