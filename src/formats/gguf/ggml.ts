/**
 * Facts about ggml needed to validate a GGUF tensor table: element types with their block
 * size (elements per block) and type size (bytes per block), and llama.cpp's file types.
 * Values from ggml.h / the gguf Python package's GGML_QUANT_SIZES (gguf 0.19); removed types
 * (Q4_2, Q4_3, Q4_0_4_4...) are absent, as llama.cpp refuses them.
 */

export interface GgmlType {
  name: string;
  blockSize: number;
  typeSize: number;
}

const T = (name: string, blockSize: number, typeSize: number): GgmlType => ({ name, blockSize, typeSize });

export const GGML_TYPES: ReadonlyMap<number, GgmlType> = new Map([
  [0, T('F32', 1, 4)],
  [1, T('F16', 1, 2)],
  [2, T('Q4_0', 32, 18)],
  [3, T('Q4_1', 32, 20)],
  [6, T('Q5_0', 32, 22)],
  [7, T('Q5_1', 32, 24)],
  [8, T('Q8_0', 32, 34)],
  [9, T('Q8_1', 32, 40)],
  [10, T('Q2_K', 256, 84)],
  [11, T('Q3_K', 256, 110)],
  [12, T('Q4_K', 256, 144)],
  [13, T('Q5_K', 256, 176)],
  [14, T('Q6_K', 256, 210)],
  [15, T('Q8_K', 256, 292)],
  [16, T('IQ2_XXS', 256, 66)],
  [17, T('IQ2_XS', 256, 74)],
  [18, T('IQ3_XXS', 256, 98)],
  [19, T('IQ1_S', 256, 50)],
  [20, T('IQ4_NL', 32, 18)],
  [21, T('IQ3_S', 256, 110)],
  [22, T('IQ2_S', 256, 82)],
  [23, T('IQ4_XS', 256, 136)],
  [24, T('I8', 1, 1)],
  [25, T('I16', 1, 2)],
  [26, T('I32', 1, 4)],
  [27, T('I64', 1, 8)],
  [28, T('F64', 1, 8)],
  [29, T('IQ1_M', 256, 56)],
  [30, T('BF16', 1, 2)],
  [34, T('TQ1_0', 256, 54)],
  [35, T('TQ2_0', 256, 66)],
  [39, T('MXFP4', 32, 17)],
  [40, T('NVFP4', 64, 36)],
  [41, T('Q1_0', 128, 18)],
]);

/** llama.cpp's `general.file_type` (enum llama_ftype) names. */
export const FILE_TYPES: ReadonlyMap<number, string> = new Map([
  [0, 'F32'], [1, 'F16'], [2, 'Q4_0'], [3, 'Q4_1'], [7, 'Q8_0'], [8, 'Q5_0'], [9, 'Q5_1'], [10, 'Q2_K'],
  [11, 'Q3_K_S'], [12, 'Q3_K_M'], [13, 'Q3_K_L'], [14, 'Q4_K_S'], [15, 'Q4_K_M'], [16, 'Q5_K_S'], [17, 'Q5_K_M'],
  [18, 'Q6_K'], [19, 'IQ2_XXS'], [20, 'IQ2_XS'], [21, 'Q2_K_S'], [22, 'IQ3_XS'], [23, 'IQ3_XXS'], [24, 'IQ1_S'],
  [25, 'IQ4_NL'], [26, 'IQ3_S'], [27, 'IQ3_M'], [28, 'IQ2_S'], [29, 'IQ2_M'], [30, 'IQ4_XS'], [31, 'IQ1_M'],
  [32, 'BF16'], [36, 'TQ1_0'], [37, 'TQ2_0'], [38, 'MXFP4_MOE'], [39, 'NVFP4'], [40, 'Q1_0'], [1024, 'GUESSED'],
]);

/** GGUF metadata value types and the byte size of the fixed-size ones. */
export const GGUF_VALUE_TYPES: Readonly<Record<number, { name: string; size: number | null }>> = {
  0: { name: 'uint8', size: 1 },
  1: { name: 'int8', size: 1 },
  2: { name: 'uint16', size: 2 },
  3: { name: 'int16', size: 2 },
  4: { name: 'uint32', size: 4 },
  5: { name: 'int32', size: 4 },
  6: { name: 'float32', size: 4 },
  7: { name: 'bool', size: 1 },
  8: { name: 'string', size: null },
  9: { name: 'array', size: null },
  10: { name: 'uint64', size: 8 },
  11: { name: 'int64', size: 8 },
  12: { name: 'float64', size: 8 },
};

export const GGUF_TYPE_STRING = 8;
export const GGUF_TYPE_ARRAY = 9;
